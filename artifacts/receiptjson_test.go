package artifacts

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// siteTestRepo is the site's test repository: its receipts were written
// by spine.
var siteTestRepo = filepath.Join("..", "site", "testdata", "repo")

// receiptJSONSeeds are receipts decodeReceiptFast must decode, or leave to
// DecodeReceipt, with the same result.
var receiptJSONSeeds = []string{
	`{}`,
	` {"run_key":"k"} `,
	`{"run_key":"k","approval":null,"artifacts":null,"checks":null}`,
	`{"artifacts":[],"checks":[],"approval":{}}`,
	`{"approval":{"source":"git","commit":"abc","author":"Ann <a@b>"}}`,
	`{"artifacts":[{"path":"artifacts/a.txt","sha256":"00","size":12},{"path":"b","sha256":"","size":0}]}`,
	`{"checks":[{"id":"c1","title":"T","status":"fail","exit_code":-1,"duration_ms":5,"blocking":true}]}`,
	`{"command":"echo \"hi\"\n\ttab\\ \/ \b\f\r \u00e9 \u2028 \u0000 é 日本"}`,
	`{"note":"\ud83d\ude00"}`,
	`{"note":"\ud83d"}`,
	`{"note":"bad \xff utf8"}`,
	`{"note":"ctl` + "\x01" + `"}`,
	`{"Run_Key":"case"}`,
	`{"run_key":"a","run_key":"b"}`,
	`{"unknown":1,"run_key":"k"}`,
	`{"duration_ms":1.5}`,
	`{"duration_ms":1e3}`,
	`{"duration_ms":-0}`,
	`{"duration_ms":01}`,
	`{"duration_ms":9223372036854775808}`,
	`{"exit_code":"1"}`,
	`{"allow_failure":null}`,
	`{"host":null}`,
	`{"allow_failure":truex}`,
	`{"run_key":"k",}`,
	`{"run_key":"k"} x`,
	`{"run_key":"k"`,
	`[]`,
	`"s"`,
	``,
	`{"artifacts":[{"path":"a"},]}`,
	`{"artifacts":[{"path":"a","path":"b"}]}`,
	`{"approval":{"source":"env","extra":1}}`,
	`{"checks":{}}`,
}

// checkFastDecode compares decodeReceiptFast with DecodeReceipt, and
// DecodeReceiptShared with both.
func checkFastDecode(t *testing.T, data []byte) {
	t.Helper()
	want, werr := DecodeReceipt(data)
	shared, isShared, serr := DecodeReceiptShared(data)
	if (serr == nil) != (werr == nil) || (serr != nil && serr.Error() != werr.Error()) {
		t.Fatalf("%q: DecodeReceiptShared error %v, DecodeReceipt's %v", data, serr, werr)
	}
	if diff := cmp.Diff(want, shared); diff != "" {
		t.Fatalf("%q: (-DecodeReceipt +DecodeReceiptShared):\n%s", data, diff)
	}
	got, ok := decodeReceiptFast(data)
	if ok != isShared {
		t.Fatalf("%q: DecodeReceiptShared says shared %v, the fast decoder took it: %v", data, isShared, ok)
	}
	if !ok {
		return // left to DecodeReceipt
	}
	if werr != nil {
		t.Fatalf("%q: fast decode accepted what DecodeReceipt refuses (%v)", data, werr)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("%q: (-DecodeReceipt +fast):\n%s", data, diff)
	}
	if (want.Artifacts == nil) != (got.Artifacts == nil) || (want.Checks == nil) != (got.Checks == nil) || (want.Approval == nil) != (got.Approval == nil) {
		t.Fatalf("%q: nil and empty differ", data)
	}
}

func TestDecodeReceiptFast(t *testing.T) {
	for _, s := range receiptJSONSeeds {
		checkFastDecode(t, []byte(s))
	}
	// Every receipt of the test repository, which the fast path must take.
	files, err := filepath.Glob(filepath.Join(siteTestRepo, "receipts", "*", "*", "*", "*", "receipt.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test receipts: %v", err)
	}
	fast := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		checkFastDecode(t, data)
		if _, ok := decodeReceiptFast(data); ok {
			fast++
		}
	}
	// A receipt as spine writes it takes the fast path.
	r := &Receipt{RunKey: "CAP-20260301-101500__step.x__Rk3j9x0abcd", LoopID: "LOOP-X", Command: "echo <é>\n", Note: "a \"note\"",
		Approval: &Approval{Source: "git", Commit: "c"}, Artifacts: []ArtifactRef{{Path: "artifacts/x", SHA256: "s", Size: 3}},
		Checks: []CheckResult{{ID: "c", Status: "pass", Blocking: true}}, DurationMS: 1714, ExitCode: -2, Redactions: 1}
	data, err := MarshalReceipt(r)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := decodeReceiptFast(data); !ok {
		t.Errorf("receipt as spine writes it not decoded by the fast path:\n%s", data)
	}
	checkFastDecode(t, data)
	if fast == 0 || !strings.Contains(string(data), "approval") {
		t.Errorf("fast path taken for %d of %d test receipts", fast, len(files))
	}
}

func FuzzDecodeReceiptFast(f *testing.F) {
	for _, s := range receiptJSONSeeds {
		f.Add([]byte(s))
	}
	if data, err := os.ReadFile(filepath.Join(siteTestRepo, "receipts", "2026", "03", "01", "CAP-20260301-101500__step.zpool-list__Rk3j9x0abcd", "receipt.json")); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkFastDecode(t, data)
	})
}

// TestDetachReceipt checks that DetachReceipt copies every string of a
// receipt out of the buffer it was decoded from: each field of
// Receipt (found by reflection, so a field added later is
// covered) is given a distinct value, the receipt is encoded and decoded
// fast, detached, and the buffer overwritten.
func TestDetachReceipt(t *testing.T) {
	want := &Receipt{}
	n := 0
	var fill func(v reflect.Value)
	fill = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.String:
			n++
			v.SetString(fmt.Sprintf("value %d", n))
		case reflect.Int, reflect.Int64:
			n++
			v.SetInt(int64(n))
		case reflect.Bool:
			v.SetBool(true)
		case reflect.Pointer:
			v.Set(reflect.New(v.Type().Elem()))
			fill(v.Elem())
		case reflect.Slice:
			v.Set(reflect.MakeSlice(v.Type(), 2, 2))
			for i := range 2 {
				fill(v.Index(i))
			}
		case reflect.Struct:
			for i := range v.NumField() {
				fill(v.Field(i))
			}
		default:
			t.Fatalf("DetachReceipt's test does not fill a %s", v.Type())
		}
	}
	fill(reflect.ValueOf(want).Elem())
	buf, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := decodeReceiptFast(buf)
	if !ok {
		t.Fatalf("decodeReceiptFast gives up on %s", buf)
	}
	got = DetachReceipt(got)
	copy(buf, bytes.Repeat([]byte{'#'}, len(buf)))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("a string still shares the decoded buffer (-want +got):\n%s", diff)
	}
}
