/*
 * log.h: leveled logging to stderr with a rank prefix.
 *
 * Log lines are for operators and researchers to follow a job; they must never
 * carry keys, decrypted values or patient identifiers. Every line is
 * "sluice[rank R] LEVEL: message" (the rank part only once a rank is set).
 */
#ifndef SL_CORE_LOG_H
#define SL_CORE_LOG_H

enum sl_log_level { SL_LOG_ERROR = 0, SL_LOG_WARN = 1, SL_LOG_INFO = 2, SL_LOG_DEBUG = 3 };

/* Sets the most verbose level printed (default SL_LOG_INFO). Not collective. */
void sl_log_set_level(enum sl_log_level level);
enum sl_log_level sl_log_get_level(void);

/* Sets the MPI rank shown in the prefix; negative hides it. */
void sl_log_set_rank(int rank);

void sl_log(enum sl_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define sl_log_error(...) sl_log(SL_LOG_ERROR, __VA_ARGS__)
#define sl_log_warn(...) sl_log(SL_LOG_WARN, __VA_ARGS__)
#define sl_log_info(...) sl_log(SL_LOG_INFO, __VA_ARGS__)
#define sl_log_debug(...) sl_log(SL_LOG_DEBUG, __VA_ARGS__)

#endif
