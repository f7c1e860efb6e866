//go:build !cgo || !unix

package gunzip

// Without cgo there is no libdeflate: every Decoder uses the Go reader.

type native struct{}

func loadNative() bool                                     { return false }
func newNative() *native                                   { return nil }
func (n *native) free()                                    {}
func (n *native) appendAll(dst, src []byte) ([]byte, bool) { return dst, false }
func (n *native) appendMember(dst, src []byte) ([]byte, int, bool) {
	return dst, 0, false
}
