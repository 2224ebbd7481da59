/*
 * log.c: stderr logger behind log.h. One fprintf per line so lines from
 * concurrent ranks do not interleave mid-line.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

static enum sl_log_level g_level = SL_LOG_INFO;
static int g_rank = -1;

void sl_log_set_level(enum sl_log_level level) { g_level = level; }
enum sl_log_level sl_log_get_level(void) { return g_level; }
void sl_log_set_rank(int rank) { g_rank = rank; }

void sl_log(enum sl_log_level level, const char *fmt, ...)
{
    static const char *names[] = {"error", "warning", "info", "debug"};
    char msg[1024];
    va_list ap;
    if (level > g_level)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (g_rank >= 0)
        fprintf(stderr, "sluice[rank %d] %s: %s\n", g_rank, names[level], msg);
    else
        fprintf(stderr, "sluice %s: %s\n", names[level], msg);
}
