package codec

import (
	"errors"
	"fmt"
	"io"
)

// CheckRaw checks that data, the bytes of a cbor.RawMessage the decoder
// accepted as well formed, is exactly one item whose built-in tags have
// content of the right type (tag 0 a text string, tag 1 a number, tags 2 and 3
// a byte string). The decoder does not check tags inside a RawMessage but the
// encoder does, so without this check a record could decode and then fail to
// encode.
func CheckRaw(data []byte) error {
	if len(data) == 0 {
		return nil
	}
	rest, err := walkItem(data, 0)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("%d bytes after the item", len(rest))
	}
	return nil
}

// walkItem returns what follows the item at the start of b.
func walkItem(b []byte, depth int) ([]byte, error) {
	if depth > MaxNesting {
		return nil, fmt.Errorf("nested deeper than %d levels", MaxNesting)
	}
	major, n, rest, err := ItemHead(b)
	if err != nil {
		return nil, err
	}
	switch major {
	case 2, 3: // byte and text strings
		if uint64(len(rest)) < n {
			return nil, io.ErrUnexpectedEOF
		}
		return rest[n:], nil
	case 4, 5: // arrays and maps
		items := n
		if major == 5 {
			if n > 1<<62 {
				return nil, io.ErrUnexpectedEOF
			}
			items = 2 * n
		}
		for i := uint64(0); i < items; i++ {
			if rest, err = walkItem(rest, depth+1); err != nil {
				return nil, err
			}
		}
		return rest, nil
	case 6: // tags
		if len(rest) == 0 {
			return nil, io.ErrUnexpectedEOF
		}
		content := rest[0] >> 5
		switch {
		case n == 0 && content != 3:
			return nil, errors.New("tag 0 (date/time) must be followed by a text string")
		case n == 1 && content != 0 && content != 1 && (rest[0] < 0xf9 || rest[0] > 0xfb):
			return nil, errors.New("tag 1 (epoch time) must be followed by a number")
		case (n == 2 || n == 3) && content != 2:
			return nil, fmt.Errorf("tag %d (bignum) must be followed by a byte string", n)
		}
		return walkItem(rest, depth+1)
	}
	return rest, nil // integers, simple values and floats
}

// ItemHead reads the head of a CBOR item: its major type and argument.
func ItemHead(b []byte) (major byte, n uint64, rest []byte, err error) {
	if len(b) == 0 {
		return 0, 0, nil, io.ErrUnexpectedEOF
	}
	major, ai := b[0]>>5, b[0]&0x1f
	switch {
	case ai < 24:
		return major, uint64(ai), b[1:], nil
	case ai <= 27:
		size := 1 << (ai - 24)
		if len(b) < 1+size {
			return 0, 0, nil, io.ErrUnexpectedEOF
		}
		for _, c := range b[1 : 1+size] {
			n = n<<8 | uint64(c)
		}
		return major, n, b[1+size:], nil
	case ai == 31:
		return 0, 0, nil, errors.New("indefinite length")
	}
	return 0, 0, nil, fmt.Errorf("reserved additional information %d", ai)
}
