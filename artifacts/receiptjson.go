package artifacts

import (
	"unsafe"

	"github.com/spinehq/spine/internal/jsonscan"
)

// DecodeReceiptShared decodes receipt.json as DecodeReceipt does (the same
// receipt, or the same error), several times faster for the receipts
// spine writes, which matters for the tens of thousands of receipts a site
// build or a plan without its caches decodes. When shared is set, strings
// of the receipt share data's bytes, which must then not change while the
// receipt is in use; DetachReceipt copies them out.
func DecodeReceiptShared(data []byte) (rc *Receipt, shared bool, err error) {
	if rc, ok := decodeReceiptFast(data); ok {
		return rc, true, nil
	}
	rc, err = DecodeReceipt(data)
	return rc, false, err
}

// unsafeString views b as a string without copying; b must not change
// while the string is in use.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// decodeReceiptFast decodes receipt.json as DecodeReceipt does,
// for the receipts spine writes: an object with the contract's keys, each
// at most once, spelt exactly, with values of their field's type (null
// for the approval and the lists). Anything else (an unknown or
// differently spelt key, a null string, a number that is not a plain
// integer, a surrogate escape, invalid UTF-8, a syntax error) makes it
// give up (ok false), and the caller decodes with DecodeReceipt,
// whose result or error then stands. Strings without escapes share data,
// which must not change afterwards: a site build keeps the receipt's bytes
// for its page anyway, so its strings cost no copy.
//
// It is several times faster than encoding/json (DecodeReceiptShared).
func decodeReceiptFast(data []byte) (rc *Receipt, ok bool) {
	d := jsonscan.Scanner{B: data}
	rc = &Receipt{}
	d.WS()
	var seen uint64
	if !d.ObjectStart() {
		return nil, false
	}
	for more := d.ObjectFirst(); more; more = d.ObjectNext() {
		key, ok := d.Key()
		if !ok {
			return nil, false
		}
		bit, ok := receiptField(&d, rc, key)
		if !ok || seen&bit != 0 {
			return nil, false
		}
		seen |= bit
	}
	if d.Bad {
		return nil, false
	}
	d.WS()
	if d.I != len(d.B) {
		return nil, false
	}
	return rc, true
}

// receiptField decodes the value of the receipt's member key; it returns the
// member's bit (for duplicates) and false for a key it does not know.
func receiptField(d *jsonscan.Scanner, rc *Receipt, key string) (uint64, bool) {
	var bit uint64
	switch key {
	case "run_key":
		bit, rc.RunKey = 1<<0, d.Str()
	case "loop_id":
		bit, rc.LoopID = 1<<1, d.Str()
	case "stage":
		bit, rc.Stage = 1<<2, d.Str()
	case "step":
		bit, rc.Step = 1<<3, d.Str()
	case "capability":
		bit, rc.Capability = 1<<4, d.Str()
	case "command":
		bit, rc.Command = 1<<5, d.Str()
	case "command_sha256":
		bit, rc.CommandSHA256 = 1<<6, d.Str()
	case "host":
		bit, rc.Host = 1<<7, d.Str()
	case "user":
		bit, rc.User = 1<<8, d.Str()
	case "workdir":
		bit, rc.Workdir = 1<<9, d.Str()
	case "started_at":
		bit, rc.StartedAt = 1<<10, d.Str()
	case "finished_at":
		bit, rc.FinishedAt = 1<<11, d.Str()
	case "duration_ms":
		bit, rc.DurationMS = 1<<12, d.Int()
	case "exit_code":
		bit, rc.ExitCode = 1<<13, d.IntN()
	case "status":
		bit, rc.Status = 1<<14, d.Str()
	case "allow_failure":
		bit, rc.AllowFailure = 1<<15, d.Bool()
	case "gate":
		bit, rc.Gate = 1<<16, d.Str()
	case "approval":
		bit = 1 << 17
		if !d.Null() {
			a := &Approval{}
			d.Members(func(k string) (uint64, bool) {
				switch k {
				case "source":
					a.Source = d.Str()
					return 1, true
				case "commit":
					a.Commit = d.Str()
					return 2, true
				case "author":
					a.Author = d.Str()
					return 4, true
				}
				return 0, false
			})
			rc.Approval = a
		}
	case "source_commit":
		bit, rc.SourceCommit = 1<<18, d.Str()
	case "artifacts":
		bit = 1 << 19
		rc.Artifacts = decodeList(d, func(a *ArtifactRef, k string) (uint64, bool) {
			switch k {
			case "path":
				a.Path = d.Str()
				return 1, true
			case "sha256":
				a.SHA256 = d.Str()
				return 2, true
			case "size":
				a.Size = d.Int()
				return 4, true
			}
			return 0, false
		})
	case "output_sha256":
		bit, rc.OutputSHA256 = 1<<20, d.Str()
	case "spine_version":
		bit, rc.SpineVersion = 1<<21, d.Str()
	case "prev":
		bit, rc.Prev = 1<<22, d.Str()
	case "note":
		bit, rc.Note = 1<<23, d.Str()
	case "output_truncated":
		bit, rc.OutputTruncated = 1<<24, d.Bool()
	case "output_bytes":
		bit, rc.OutputBytes = 1<<25, d.Int()
	case "redactions":
		bit, rc.Redactions = 1<<26, d.IntN()
	case "checks":
		bit = 1 << 27
		rc.Checks = decodeList(d, func(c *CheckResult, k string) (uint64, bool) {
			switch k {
			case "id":
				c.ID = d.Str()
				return 1, true
			case "title":
				c.Title = d.Str()
				return 2, true
			case "status":
				c.Status = d.Str()
				return 4, true
			case "exit_code":
				c.ExitCode = d.IntN()
				return 8, true
			case "duration_ms":
				c.DurationMS = d.Int()
				return 16, true
			case "blocking":
				c.Blocking = d.Bool()
				return 32, true
			case "command":
				c.Command = d.Str()
				return 64, true
			case "command_sha256":
				c.CommandSHA256 = d.Str()
				return 128, true
			}
			return 0, false
		})
	case "summary":
		bit, rc.Summary = 1<<28, d.Str()
	default:
		return 0, false
	}
	return bit, !d.Bad
}

// decodeList decodes a list of objects (the receipt's artifacts and
// checks): member decodes one member of an element, as receiptField does.
// null gives a nil list, [] an empty one, as encoding/json does.
func decodeList[T any](d *jsonscan.Scanner, member func(v *T, key string) (uint64, bool)) []T {
	list := []T{}
	if d.Array(func() {
		var v T
		d.Members(func(k string) (uint64, bool) { return member(&v, k) })
		list = append(list, v)
	}) {
		return nil
	}
	return list
}

// DetachReceipt returns rc, decoded by DecodeReceiptShared, with every
// string copied out of the buffer it was decoded from (into one new
// block), so the buffer can be reused or dropped. TestDetachReceipt checks
// it copies every string field.
func DetachReceipt(rc *Receipt) *Receipt {
	n := 0
	each := func(f func(s *string)) {
		for _, s := range []*string{&rc.RunKey, &rc.LoopID, &rc.Stage, &rc.Step, &rc.Capability, &rc.Command,
			&rc.CommandSHA256, &rc.Host, &rc.User, &rc.Workdir, &rc.StartedAt, &rc.FinishedAt, &rc.Status,
			&rc.Gate, &rc.SourceCommit, &rc.OutputSHA256, &rc.SpineVersion, &rc.Prev, &rc.Note, &rc.Summary} {
			f(s)
		}
		if a := rc.Approval; a != nil {
			f(&a.Source)
			f(&a.Commit)
			f(&a.Author)
		}
		for i := range rc.Artifacts {
			f(&rc.Artifacts[i].Path)
			f(&rc.Artifacts[i].SHA256)
		}
		for i := range rc.Checks {
			f(&rc.Checks[i].ID)
			f(&rc.Checks[i].Title)
			f(&rc.Checks[i].Status)
			f(&rc.Checks[i].Command)
			f(&rc.Checks[i].CommandSHA256)
		}
	}
	each(func(s *string) { n += len(*s) })
	if n == 0 {
		return rc
	}
	block := make([]byte, 0, n)
	each(func(s *string) {
		if len(*s) == 0 {
			*s = ""
			return
		}
		at := len(block)
		block = append(block, *s...)
		*s = unsafeString(block[at:])
	})
	return rc
}
