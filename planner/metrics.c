/*
 * The metrics of /metrics (see metrics.h): none yet, an empty exposition. Not for: serving them.
 */
#include "planner/metrics.h"

#include "core/util.h"

char *metrics_text(Store *store)
{
    (void)store;
    return xstrdup("");
}
