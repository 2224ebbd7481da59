/*
 * hash_impl.h: the integer mixer behind io's hash tables (private to io/).
 */
#ifndef SL_IO_HASH_IMPL_H
#define SL_IO_HASH_IMPL_H

#include <stdint.h>

/* MurmurHash3's 64-bit finaliser: every input bit flips about half of the
 * output bits, so a table can take the low bits as the slot. */
static inline uint64_t sl_mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

#endif
