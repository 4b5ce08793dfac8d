package cmdutil

import (
	"bytes"
	"errors"
	"io"
	"os"
	"sync"
	"testing"
)

func TestOutputPrint(t *testing.T) {
	type doc struct {
		Name  string  `json:"name"`
		Count int     `json:"count"`
		Rate  float64 `json:"rate"`
		OK    bool    `json:"ok"`
	}
	v := doc{Name: "a&b<c>", Count: 3, Rate: 1.5, OK: true}
	text := func(w io.Writer) error { _, err := io.WriteString(w, "text\n"); return err }
	tests := []struct {
		format string
		want   string
	}{
		{"", "text\n"},
		{FormatText, "text\n"},
		{FormatJSON, "{\n  \"name\": \"a&b<c>\",\n  \"count\": 3,\n  \"rate\": 1.5,\n  \"ok\": true\n}\n"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		if err := (Output{Format: tt.format}).Print(&b, v, text); err != nil {
			t.Fatalf("%q: %v", tt.format, err)
		}
		if b.String() != tt.want {
			t.Errorf("%q: got %q, want %q", tt.format, b.String(), tt.want)
		}
	}
	var b bytes.Buffer
	if err := (Output{}).Print(&b, v, nil); err != nil || b.Len() != 0 {
		t.Errorf("text with no text func: %q, %v", b.String(), err)
	}
}

func TestOutputErrors(t *testing.T) {
	// A value JSON cannot encode is an error, and nothing is written.
	var b bytes.Buffer
	if err := WriteJSON(&b, map[string]any{"f": func() {}}); err == nil || b.Len() != 0 {
		t.Errorf("unencodable value: err %v, wrote %q", err, b.String())
	}
	f, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip("no /dev/full")
	}
	defer f.Close()
	if err := WriteJSON(f, 1); err == nil {
		t.Error("WriteJSON to /dev/full: no error")
	}
	if err := (Output{Format: FormatJSON}).Stream(f).Write(1); err == nil {
		t.Error("Stream to /dev/full: no error")
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	f.n++
	return 0, errors.New("boom")
}

func TestStreamLines(t *testing.T) {
	var b bytes.Buffer
	s := (Output{Format: FormatJSON}).Stream(&b)
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = s.Write(map[string]string{"url": "mqtt://127.0.0.1:1883", "x": "a&b"})
		}()
	}
	wg.Wait()
	want := "{\"url\":\"mqtt://127.0.0.1:1883\",\"x\":\"a&b\"}\n"
	lines := bytes.SplitAfter(b.Bytes(), []byte("\n"))
	if len(lines) != 51 || len(lines[50]) != 0 {
		t.Fatalf("got %d lines", len(lines)-1)
	}
	for _, l := range lines[:50] {
		if string(l) != want {
			t.Fatalf("line %q, want %q", l, want)
		}
	}
	fw := &failWriter{}
	if err := (Output{}).Stream(fw).Write(1); err == nil || fw.n != 1 {
		t.Errorf("failing writer: %v after %d writes", err, fw.n)
	}
}
