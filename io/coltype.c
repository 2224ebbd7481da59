/*
 * coltype.c: names and element sizes of cohort column types and classes.
 */
#include <string.h>

#include "io/cohort.h"
#include "io/format.h"

size_t sl_coltype_size(enum sl_coltype type)
{
    switch (type) {
    case SL_COL_ID: return SL_ID_BYTES;
    case SL_COL_INT: return sizeof(int64_t);
    case SL_COL_REAL: return sizeof(double);
    case SL_COL_CAT: return sizeof(int32_t);
    case SL_COL_DATE: return sizeof(int32_t);
    }
    return 0;
}

static const char *const type_names[] = {NULL, "id", "integer", "real", "categorical", "date"};
static const char *const class_names[] = {NULL, "identifier", "quasi", "sensitive", "other"};

const char *sl_coltype_name(enum sl_coltype type)
{
    return type >= SL_COL_ID && type <= SL_COL_DATE ? type_names[type] : "unknown";
}

const char *sl_colclass_name(enum sl_colclass cls)
{
    return cls >= SL_CLASS_IDENTIFIER && cls <= SL_CLASS_OTHER ? class_names[cls] : "unknown";
}

enum sl_coltype sl_coltype_parse(const char *s)
{
    for (int i = SL_COL_ID; i <= SL_COL_DATE; i++)
        if (strcmp(s, type_names[i]) == 0)
            return (enum sl_coltype)i;
    return (enum sl_coltype)0;
}

enum sl_colclass sl_colclass_parse(const char *s)
{
    for (int i = SL_CLASS_IDENTIFIER; i <= SL_CLASS_OTHER; i++)
        if (strcmp(s, class_names[i]) == 0)
            return (enum sl_colclass)i;
    return (enum sl_colclass)0;
}
