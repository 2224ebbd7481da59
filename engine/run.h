/*
 * run.h: `sluice run`, the job lifecycle on N MPI ranks.
 *
 *   authorise (policy + enclave) -> unwrap the data key -> load and decrypt
 *   this rank's chunks -> filter rows -> execute analyses (kernels +
 *   deterministic reductions) -> gate -> release, every step audited.
 *
 * Exit codes: 0 the job ran (see results.json for what was released),
 * 1 runtime failure, 2 bad usage or bad input (job, policy), 3 refused by
 * policy or enclave check, 4 authentication failure (tampered or foreign
 * data, wrong key). A failed job releases nothing.
 */
#ifndef SL_ENGINE_RUN_H
#define SL_ENGINE_RUN_H

#include "engine/core/status.h"

/* The command. Initialises and finalises MPI itself. Collective on
 * MPI_COMM_WORLD. */
int sl_cmd_run(int argc, char **argv);

/* Exit code for a status (see above). */
int sl_exit_code(sl_status st);

#endif
