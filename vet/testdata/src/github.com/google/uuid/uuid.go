package uuid

type UUID [16]byte

func New() UUID { return UUID{} }

func Parse(s string) (UUID, error) { return UUID{}, nil }
