package cmdutil

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"

	"github.com/iotctl/iotctl/pkg/errs"
	"github.com/spf13/cobra"
)

// Encodings are the values of --encoding: how payload text given on the
// command line or in files is decoded (pub) and how raw payloads are
// printed (sub), as MQTTX's --format does.
var Encodings = []string{"text", "hex", "base64"}

// Encoding is a checked --encoding value.
type Encoding string

// ParseEncoding checks an --encoding value ("" is text).
func ParseEncoding(s string) (Encoding, error) {
	switch s {
	case "", "text":
		return "", nil
	case "hex", "base64":
		return Encoding(s), nil
	}
	return "", errs.Usagef("--encoding %q: use text, hex or base64", s)
}

// Decode appends the bytes src spells to dst. what names the input in
// errors ("-m", "line 3").
func (e Encoding) Decode(dst, src []byte, what string) ([]byte, error) {
	switch e {
	case "hex":
		n := len(dst)
		dst = append(dst, make([]byte, hex.DecodedLen(len(src)))...)
		if _, err := hex.Decode(dst[n:], src); err != nil {
			return nil, errs.Usagef("--encoding hex: %s is not hexadecimal: %v", what, err)
		}
		return dst, nil
	case "base64":
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if out, err := enc.AppendDecode(dst, src); err == nil {
				return out, nil
			}
		}
		_, err := base64.StdEncoding.DecodeString(string(src))
		return nil, errs.Usagef("--encoding base64: %s is not base64: %v", what, err)
	}
	return append(dst, src...), nil
}

// Encode appends src, encoded, to dst.
func (e Encoding) Encode(dst, src []byte) []byte {
	switch e {
	case "hex":
		return hex.AppendEncode(dst, src)
	case "base64":
		return base64.StdEncoding.AppendEncode(dst, src)
	}
	return append(dst, src...)
}

// AddEncodingFlag registers --encoding on cmd with its completion.
func AddEncodingFlag(cmd *cobra.Command, p *string, usage string) {
	cmd.Flags().StringVar(p, "encoding", "text", fmt.Sprintf("%s (%s)", usage, "text|hex|base64"))
	Choice{Flag: "encoding", Values: Encodings, Descriptions: map[string]string{
		"text": "bytes as they are", "hex": "hexadecimal", "base64": "standard base64"}}.Register(cmd)
}
