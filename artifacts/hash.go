package artifacts

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"unicode/utf8"
)

// HashBytes returns the lower-case hex SHA-256 of b.
func HashBytes(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// HashFile returns the lower-case hex SHA-256 and the size of the regular
// file at path, streaming it (constant memory whatever the size). Anything
// else (a FIFO, a device, a folder) is an error, never waited on.
func HashFile(path string) (string, int64, error) {
	// O_NONBLOCK: opening a FIFO would wait for a writer.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "", 0, fmt.Errorf("hash %s: %w", path, err)
	}
	return hashOpen(path, f)
}

// hashOpen hashes and closes an open file, which must be a regular one.
func hashOpen(path string, f *os.File) (string, int64, error) {
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return "", 0, fmt.Errorf("hash %s: %w", path, err)
	} else if !fi.Mode().IsRegular() {
		return "", 0, fmt.Errorf("hash %s: not a regular file (%s)", path, fi.Mode().Type())
	}
	h := sha256.New()
	n, err := io.CopyBuffer(h, f, make([]byte, 64<<10))
	if err != nil {
		return "", 0, fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// CommandSHA256 returns the command_sha256 of a step's command: the hex
// SHA-256 of its UTF-8 bytes. Invalid UTF-8 bytes count as U+FFFD, exactly
// as encoding/json stores them in receipt.json, so the hash recomputed from
// a stored receipt always matches. For valid UTF-8 it is plain SHA-256.
func CommandSHA256(cmd string) string {
	return HashBytes([]byte(jsonString(cmd)))
}

// ChainHash returns the hash a receipt is chained by: the hex SHA-256 of the
// exact bytes of its receipt.json file. The next receipt of the same loop
// stores it as Prev.
func ChainHash(receiptJSON []byte) string {
	return HashBytes(receiptJSON)
}

// jsonString returns s as encoding/json round-trips it: each invalid UTF-8
// byte becomes U+FFFD.
func jsonString(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
