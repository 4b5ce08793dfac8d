package policy

import (
	"unicode"
	"unicode/utf8"

	"github.com/iotctl/iotctl/pkg/errs"
)

// MaxSize is the most characters, whitespace not counted, AWS IoT accepts
// in one policy document.
const MaxSize = 2048

// Size counts a document's characters without whitespace, as IoT does.
func Size(doc []byte) int {
	n := 0
	for len(doc) > 0 {
		r, w := utf8.DecodeRune(doc)
		doc = doc[w:]
		if !unicode.IsSpace(r) {
			n++
		}
	}
	return n
}

// CheckSize fails with a usage error naming the size when doc is over MaxSize.
func CheckSize(doc []byte) error {
	if n := Size(doc); n > MaxSize {
		return errs.Usagef("policy is %d characters without whitespace: AWS IoT allows at most %d: split it into several policies (up to 10 per certificate) or use fewer, wider resources", n, MaxSize)
	}
	return nil
}
