// Package task is the reified task: what a suspended task is, as data.
//
// Go closures cannot be serialized, so a task at rest is stored as what
// determines its continuation: the name and version of its program, its
// input, the journal of its ops' results, its mailbox and what it waits for
// (a Record). Resuming a task means running its program again from its input
// while feeding it the recorded results; when the journal runs out, the task
// is live again. This package defines those values, their CBOR encoding, and
// the Registry that maps the names they store (programs, message types,
// errors) back to Go.
//
//	reg := task.NewRegistry()
//	task.Register(reg, greet)                      // an *effect.Program
//	task.RegisterMessage[Order](reg, "shop.Order") // messages that cross processes
//	task.RegisterError(reg, "shop.OutOfStock", ErrOutOfStock)
//
//	data, err := task.EncodeRecord(rec)            // save
//	rec, err := task.DecodeRecord(data)            // load, in any process
//	prog, err := reg.Resolve(rec)                  // unknown program: park the task
//	in, err := task.DecodeInput(prog, rec.Input)
//
// # Format
//
// Everything is CBOR (RFC 8949). Records, journals, entries, envelopes and
// errors are maps with small integer keys, so that they are compact and a
// field can be added without breaking old readers, which ignore unknown keys:
//
//	Record   {0: format (1), 1: ID, 2: Program, 3: Version, 4: Input, 5: Status,
//	          6: Reason, 7: Journal, 8: Mailbox, 9: Wait, 10: Result, 11: Err,
//	          12: Parent, 13: Created, 14: Updated, 15: Trap, 16: Name, 17: Runs, 18: RunAt}
//	journal  {0: format (1), 1: [Entry...]}   (EncodeJournal)
//	Entry    {1: Seq, 2: Fiber, 3: Kind, 4: Fingerprint, 5: Op, 6: Result, 7: Err, 8: Time}
//	Envelope {1: Type, 2: Data}
//	Error    {1: Type, 2: Msg}
//	Wait     {1: Kind, 2: Until, 3: Types, 4: Detail}
//
// Empty fields are left out. Input, Op, Result and Data hold the CBOR of user
// values as they are (cbor.RawMessage), decoded only by whoever knows their
// type. A record or a journal in another format version is refused with
// ErrFormat; a change that old readers would misread must bump the version.
// Entries encoded alone (EncodeEntry, for stores that append) have no version:
// the store's schema carries it.
//
// A time.Time is encoded as tag 0 around an RFC 3339 string in UTC with
// nanoseconds ("2024-05-01T10:00:00.123456789Z"): it round-trips exactly, it
// reads well in Render, and inside an any it decodes back to a time.Time.
// The zero time is encoded as null. Decoded times are in UTC; a monotonic
// clock reading is not kept (effect.Now strips it anyway).
//
// # JSON and schema evolution
//
// A type registered once (RegisterMessage, RegisterErrorType, and
// Register for a program's input and output) is stored as CBOR and shown
// and accepted as JSON (Registry.MessageJSON, InputFromJSON, OutputJSON,
// Registry.ErrorJSON; inspect.DecodeMessageJSON for messages), with the
// same field names: a json tag names a field in both, since CBOR reads json tags.
// Registering a type whose cbor and json tags disagree, or that holds a
// func or a channel, fails with ErrWire. Stored values outlive the code
// that wrote them; these changes keep them readable, in both encodings:
//
//   - Adding a field: older values read as its zero value; older code
//     ignores it in stored values. Make the zero value mean "not set".
//     (JSON typed by a person is checked strictly: a field the type does
//     not have is refused there, as a typo.)
//   - Removing a field: its key in older values is ignored.
//   - Renaming a field: keep its stored name with a tag,
//     NewName int `json:"OldName"`.
//   - Renaming or moving the type: keep the registered name (the name
//     given to RegisterMessage, not the Go type's).
//   - Changing a field's type is not compatible: older values fail to
//     decode with ErrCorrupt. Add a field of the new type instead.
//
// CBOR matches field names exactly.
//
// # Determinism
//
// Encoding follows Core Deterministic Encoding (RFC 8949 section 4.2.1):
// shortest forms, map keys sorted, no indefinite lengths. Equal values
// therefore give equal bytes, whatever the order in which a map was filled, in
// any process and on any platform. That is what makes an op's fingerprint
// stable: EncodeOp encodes the op's exported fields and Fingerprint hashes the
// op's kind and those bytes with 64-bit FNV-1a. Replay compares fingerprints,
// so an op's exported fields must be plain data (no pointers whose identity
// matters, no funcs) and its kind, the Go type's name such as "main.GetUser",
// must not change while tasks that issued it are in flight: renaming an op
// type is a new version of every program that uses it.
//
// # Bad input
//
// Bytes read back from a store may be truncated, corrupt or hostile. Decoding
// them gives an error, never a panic, and costs bounded work and memory:
//
//   - the decoder checks that the input is well formed before it allocates
//     anything, so a declared length beyond the input costs nothing; a user
//     value's nesting is limited to 64 levels (the stored forms around it,
//     records, entries and envelopes, add at most 4), user arrays and maps to
//     131072 elements, and journals grow as entries actually decode;
//   - duplicate map keys, indefinite lengths, invalid UTF-8 and trailing bytes
//     are refused; struct field names match case-sensitively;
//   - decoded records and journals are checked: format version, known status,
//     sequence numbers 1..n without gaps or duplicates, and each entry's
//     fingerprint against its recorded op;
//   - a panic in the decoder is recovered as a last resort.
//
// The same limits hold when a value is written: Marshal, EncodeMessage and
// EncodeEnvelope refuse a value the decoder would refuse, with an error
// matching ErrUnstorable, so that a sender cannot poison a receiver. Stores
// keep a Checksum beside each stored entry and message and check it with
// VerifyChecksum, so that a damaged row is an error, not a wrong value
// replayed.
//
// Errors match sentinels with errors.Is: ErrCorrupt for undecodable bytes
// (and checksum mismatches), ErrUnstorable for values too deep or too long,
// ErrFormat, ErrInvalidRecord and ErrInvalidJournal for values that decode but
// are not valid, ErrUnregisteredType for a message type no one registered,
// ErrUnknownProgram for a program or version this process does not have (the
// task should be parked, not failed), and ErrProgramMismatch for a record
// checked against another program's version (Record.CheckProgram).
package task
