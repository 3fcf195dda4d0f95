//go:build !linux

package main

// hideEnviron does nothing where there is no /proc/<pid>/environ to hide.
func hideEnviron() {}
