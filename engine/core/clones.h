/*
 * clones.h: SL_CLONES_AVX2 marks a function for an AVX2 clone chosen at
 * load time (GCC on x86-64; nothing with clang or under AddressSanitizer).
 * Only for work whose result does not depend on the vector width: integer
 * work, or floating point whose operation order the source fixes.
 */
#ifndef SL_CORE_CLONES_H
#define SL_CORE_CLONES_H

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_ADDRESS__)
#define SL_CLONES_AVX2 __attribute__((target_clones("avx2", "default")))
#else
#define SL_CLONES_AVX2
#endif

#endif
