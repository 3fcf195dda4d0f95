//go:build !linux

package site

import "os"

// lstatFile reports no stat: outside Linux every output log is read.
func lstatFile(string) (fileStat, bool) { return fileStat{}, false }

// infoFileStat reports no stat: outside Linux every output log is read.
func infoFileStat(os.FileInfo) (fileStat, bool) { return fileStat{}, false }
