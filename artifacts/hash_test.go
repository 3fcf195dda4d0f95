package artifacts

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHashes(t *testing.T) {
	const empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	const abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"HashBytes empty", HashBytes(nil), empty},
		{"HashBytes abc", HashBytes([]byte("abc")), abc},
		{"ChainHash abc", ChainHash([]byte("abc")), abc},
		{"CommandSHA256 abc", CommandSHA256("abc"), abc},
		{"CommandSHA256 empty", CommandSHA256(""), empty},
		{"CommandSHA256 invalid utf-8 as U+FFFD", CommandSHA256("a\xffb"), HashBytes([]byte("a\uFFFDb"))},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %s, want %s", tt.name, tt.got, tt.want)
		}
	}
}

func TestCommandSHA256SurvivesJSON(t *testing.T) {
	for _, cmd := range []string{
		"zpool list -v && echo '<ok>'",
		"printf '\xff\xfe\x00'",
		"truncated \xe2\x82",
		"émoji 🚀\r\n\ttab",
	} {
		b, err := json.Marshal(cmd)
		if err != nil {
			t.Fatal(err)
		}
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if CommandSHA256(cmd) != CommandSHA256(back) {
			t.Errorf("CommandSHA256(%q) changes through JSON (%q)", cmd, back)
		}
	}
}

func TestHashFile(t *testing.T) {
	dir := t.TempDir()
	data := strings.Repeat("0123456789abcdef", 50_000) // spans several buffers
	p := filepath.Join(dir, "big.txt")
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	h, n, err := HashFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if h != HashBytes([]byte(data)) || n != int64(len(data)) {
		t.Errorf("HashFile = %s, %d; want %s, %d", h, n, HashBytes([]byte(data)), len(data))
	}
	_, _, err = HashFile(filepath.Join(dir, "missing"))
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing") {
		t.Errorf("HashFile(missing) error = %v, want ErrNotExist naming the file", err)
	}
	if _, _, err := HashFile(dir); err == nil {
		t.Error("HashFile(directory): want error")
	}
}
