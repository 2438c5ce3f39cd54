package interp

import (
	"testing"
	"unsafe"
)

// TestProcSize keeps a task's in-memory state in the 512-byte size class
// of Go's allocator: BenchmarkIdleTasks (an idle task's whole cost, target
// 1 KiB) counts it. A field that most tasks never use belongs in procRare,
// behind its pointer.
func TestProcSize(t *testing.T) {
	if size := unsafe.Sizeof(proc{}); size > 512 {
		t.Errorf("proc is %d bytes, more than 512: move what few tasks need into procRare", size)
	}
}
