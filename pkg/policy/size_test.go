package policy

import (
	"strings"
	"testing"

	"github.com/iotctl/iotctl/pkg/errs"
)

func TestSize(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"", 0},
		{"{}", 2},
		{"{ \n\t\"a\" : 1 }\r\n", 7},
		{`"a b"`, 4}, // whitespace inside strings does not count either
		{"é", 1},
	}
	for _, tt := range tests {
		if got := Size([]byte(tt.in)); got != tt.want {
			t.Errorf("Size(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestCheckSize(t *testing.T) {
	if err := CheckSize([]byte(strings.Repeat("x", MaxSize) + strings.Repeat(" ", 100))); err != nil {
		t.Errorf("%d characters and whitespace: %v", MaxSize, err)
	}
	err := CheckSize([]byte(strings.Repeat("x", MaxSize+1)))
	if err == nil || !strings.Contains(err.Error(), "2049 characters") || errs.KindOf(err) != errs.Usage {
		t.Errorf("CheckSize over the limit = %v (kind %v), want a usage error naming 2049", err, errs.KindOf(err))
	}
}
