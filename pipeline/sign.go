package pipeline

// signReceipt writes receipt.dsse.json beside the receipt of the run folder
// relDir when the run has a signing key, and returns its repository-relative
// path for the stage commit ("" when receipts are not signed). An envelope
// already there (a recovered run signed before a crash) is kept.
func (r *Runner) signReceipt(relDir string) (string, error) {
	if r.opts.Signer == nil {
		return "", nil
	}
	return r.opts.Signer.WriteSignature(r.opts.Root, relDir)
}
