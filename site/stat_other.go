//go:build !linux

package site

// lstatFile reports no stat: outside Linux every output log is read.
func lstatFile(string) (fileStat, bool) { return fileStat{}, false }
