package task

import (
	"hash/crc32"
)

// castagnoli is CRC-32C, which CPUs compute in hardware.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Checksum returns the checksum that a store keeps beside the stored form
// of a journal entry (EncodeEntry) or a message (EncodeEnvelope): CRC-32C
// of the bytes. Every store computes it with this function, and checks it
// with VerifyChecksum when it reads the row back, so that a damaged row is
// reported instead of replayed.
func Checksum(data []byte) uint32 { return crc32.Checksum(data, castagnoli) }

// VerifyChecksum reports an error matching ErrCorrupt if sum is not the
// Checksum of data: the bytes changed after they were stored.
func VerifyChecksum(data []byte, sum uint32) error {
	if got := Checksum(data); got != sum {
		return newProblem(ErrCorrupt, "checksum mismatch: stored %08x, the bytes give %08x", sum, got)
	}
	return nil
}
