/*
 * What every libFuzzer target in fuzz/ shares: libFuzzer's entry point and the assertion that
 * turns a property that does not hold into a crash libFuzzer reports. Not for: the targets'
 * inputs or properties (each fuzz_*.c says its own).
 */
#ifndef DURO_FUZZ_FUZZ_H
#define DURO_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stops the run with a crash libFuzzer reports when a property does not hold. */
#define FUZZ_ASSERT(cond)                                                                          \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

#endif
