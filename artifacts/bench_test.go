package artifacts

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// benchOutput returns about size bytes of plausible step output: mostly
// plain lines, some key=value lines, every dirtyEvery-th line (0: none)
// carrying a token.
func benchOutput(size, dirtyEvery int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < size; i++ {
		switch {
		case dirtyEvery > 0 && i%dirtyEvery == 0:
			fmt.Fprintf(&b, "auth: using token %s for https://api.github.com/repos/x\n", ghpToken)
		case i%7 == 0:
			fmt.Fprintf(&b, "zfs set compression=lz4 recordsize=1M tank/data%d id=%d uid=1000 gid=1000\n", i, i)
		default:
			fmt.Fprintf(&b, "tank/data%-6d  10.9T  4.21T  6.69T  38%%  1.00x  ONLINE  -  through the night %d\n", i, i)
		}
	}
	return b.Bytes()
}

// feed writes data to w in 32 KiB chunks, as os/exec's copy loop does.
func feed(w io.Writer, data []byte) {
	for len(data) > 0 {
		n := min(len(data), 32<<10)
		w.Write(data[:n])
		data = data[n:]
	}
}

func BenchmarkOutputWriter(b *testing.B) {
	secrets := NewRedactor([]string{"hunter2-secret-value", "s3cr3t-token-abcdef", "postgres-password-1", "AAAAB3NzaC1yc2EAAAADAQABAAABAQ", "zzzz-api-key"})
	plain, every100, every1 := benchOutput(8<<20, 0), benchOutput(8<<20, 100), benchOutput(8<<20, 1)
	cases := []struct {
		name  string
		data  []byte
		red   *Redactor
		tee   bool
		limit int64
	}{
		{name: "plain", data: plain},
		{name: "5secrets", data: plain, red: secrets},
		{name: "5secrets+tee", data: plain, red: secrets, tee: true},
		{name: "token-every-100-lines", data: every100, red: secrets},
		{name: "token-every-line", data: every1, red: secrets},
		{name: "past-limit", data: plain, red: secrets, limit: 1 << 10},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			limit := c.limit
			if limit == 0 {
				limit = math.MaxInt64
			}
			b.SetBytes(int64(len(c.data)))
			b.ReportAllocs()
			for b.Loop() {
				o := NewOutput(io.Discard, time.Now, limit, c.red)
				if c.tee {
					o.TeeStdout(io.Discard)
				}
				feed(o.Stream(StreamStdout), c.data)
				if err := o.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStepCapture is the capture cost of a typical step: 4 KiB of
// stdout and a little stderr, with secrets, hashing and a log file sink.
func BenchmarkStepCapture(b *testing.B) {
	red := NewRedactor([]string{"hunter2-secret-value", "s3cr3t-token-abcdef"})
	out := benchOutput(4<<10, 20)
	b.ReportAllocs()
	for b.Loop() {
		var log bytes.Buffer
		o := NewOutput(&log, time.Now, 0, red)
		feed(o.Stream(StreamStdout), out)
		o.Stream(StreamStderr).Write([]byte("warning: pool tank has a degraded vdev\n"))
		if err := o.Close(); err != nil {
			b.Fatal(err)
		}
		_ = o.SHA256()
	}
}

// BenchmarkStoreWrite measures writing one run (output.log and
// receipt.json, each fsynced with its folder) on the temp file system.
func BenchmarkStoreWrite(b *testing.B) {
	st := &Store{Root: b.TempDir()}
	out := benchOutput(4<<10, 0)
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	n := 0
	for b.Loop() {
		n++
		key := testKey(start, "bench", n)
		if _, err := st.Write(sampleReceipt(key, "LOOP-1", start), bytes.NewReader(out)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRedactLine(b *testing.B) {
	red := NewRedactor([]string{"hunter2-secret-value", "s3cr3t-token-abcdef"})
	line := []byte("tank/data42  10.9T  4.21T  6.69T  38%  1.00x  ONLINE  -  through the night id=42\n")
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		red.Redact(line)
	}
}

// genReceipts writes n chained receipts of 50 loops, spread over days,
// without fsync, and returns the repository root.
func genReceipts(b *testing.B, n int) string {
	b.Helper()
	root := b.TempDir()
	tips := map[string]string{}
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	made := map[string]bool{}
	for i := range n {
		t := start.Add(time.Duration(i) * 17 * time.Minute)
		key := testKey(t, fmt.Sprintf("s%d", i%13), i)
		loop := fmt.Sprintf("LOOP-%d", i%50)
		r := sampleReceipt(key, loop, t)
		r.CommandSHA256 = CommandSHA256(r.Command)
		r.Prev = tips[loop]
		r.Artifacts = []ArtifactRef{}
		data, err := MarshalReceipt(r)
		if err != nil {
			b.Fatal(err)
		}
		tips[loop] = ChainHash(data)
		dir, _ := ReceiptDir(filepath.Join(root, "receipts"), key)
		if parent := filepath.Dir(dir); !made[parent] {
			if err := os.MkdirAll(parent, 0o755); err != nil {
				b.Fatal(err)
			}
			made[parent] = true
		}
		if err := os.Mkdir(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, ReceiptFile), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return root
}

func BenchmarkList(b *testing.B) {
	const n = 20_000
	root := genReceipts(b, n)
	st := &Store{Root: root}
	b.Run("List", func(b *testing.B) {
		for b.Loop() {
			es, err := st.List()
			if err != nil {
				b.Fatal(err)
			}
			if len(es) != n || es[0].Err != nil {
				b.Fatalf("List: %d entries, first %+v", len(es), es[0])
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n/1000, "µs/receipt")
	})
	// The floor: reading the same files one by one, without parsing.
	b.Run("baseline-ReadFile", func(b *testing.B) {
		es, _ := st.List()
		for b.Loop() {
			for _, e := range es {
				if _, err := os.ReadFile(filepath.Join(root, e.Dir, ReceiptFile)); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n/1000, "µs/receipt")
	})
}

// BenchmarkDecodeReceipt decodes a receipt as spine writes it with
// encoding/json (DecodeReceipt) and with the fast decoder
// (DecodeReceiptShared), whose strings share the bytes.
func BenchmarkDecodeReceipt(b *testing.B) {
	r := sampleReceipt("CAP-20260301-101500__zfs.pool__Rabcdefghij", "LOOP-1", time.Date(2026, 3, 1, 10, 15, 0, 0, time.UTC))
	r.Artifacts = []ArtifactRef{{Path: "artifacts/loop-1/10-list.txt", SHA256: HashBytes(nil), Size: 12}}
	data, _ := MarshalReceipt(r)
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := DecodeReceipt(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("shared", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, shared, err := DecodeReceiptShared(data); err != nil || !shared {
				b.Fatal(shared, err)
			}
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	const n = 20_000
	root := genReceipts(b, n)
	for b.Loop() {
		rep, err := Verify(root, nil)
		if err != nil {
			b.Fatal(err)
		}
		if !rep.OK() {
			b.Fatalf("Verify: %v", rep.Problems[:min(3, len(rep.Problems))])
		}
	}
}

// TestBenchOutputShape keeps the benchmark data honest: the dirty variant
// really redacts, the plain one does not.
func TestBenchOutputShape(t *testing.T) {
	red := NewRedactor(nil)
	if _, n := red.Redact(benchOutput(64<<10, 0)); n != 0 {
		t.Errorf("plain bench output has %d redactions", n)
	}
	if out, n := red.Redact(benchOutput(64<<10, 100)); n == 0 || strings.Contains(string(out), ghpToken) {
		t.Errorf("dirty bench output: %d redactions", n)
	}
}

// BenchmarkWriteFileAtomic is the unit Store.Write is made of (one file
// fsync, one folder fsync): a calibration for the file system at hand.
func BenchmarkWriteFileAtomic(b *testing.B) {
	p := filepath.Join(b.TempDir(), "journal.json")
	data := []byte(`{"run":"x"}`)
	for b.Loop() {
		if err := WriteFileAtomic(p, data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
}
