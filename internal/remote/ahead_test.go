package remote

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

func TestAheadWriterKeepsOrderAndBytes(t *testing.T) {
	var got bytes.Buffer
	a := newAheadWriter(&got, 1000, 3)
	var want bytes.Buffer
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 500 {
		p := make([]byte, r.IntN(3500)) // smaller and larger than a buffer
		for j := range p {
			p[j] = byte(i + j)
		}
		want.Write(p)
		if n, err := a.Write(p); n != len(p) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatalf("wrote %d bytes, got %d, or in another order", want.Len(), got.Len())
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

type failAfter struct{ n int }

func (f *failAfter) Write(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("remote went away")
	}
	f.n--
	return len(p), nil
}

func TestAheadWriterReportsAFailedWrite(t *testing.T) {
	a := newAheadWriter(&failAfter{n: 2}, 10, 2)
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		_, err = a.Write(make([]byte, 10))
	}
	if cerr := a.Close(); err == nil && cerr == nil {
		t.Fatal("a failing writer went unnoticed")
	}
	if err == nil {
		err = a.Close()
	}
	if err.Error() != "remote went away" {
		t.Fatalf("error %v", err)
	}
}
