// The fuzz binary's entry point is libFuzzer's `main`, linked in by -sanitize=fuzzer. This target is C so that
// SwiftPM does not point `main` at a Swift entry point; the work is in PaddockFuzz's LLVMFuzzerTestOneInput.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
