// Package yamlx holds what spine's YAML readers share beyond yaml.v3.
package yamlx

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// MaxGrowth is how many times its own size a YAML file may grow to once
// its aliases are expanded. Anchors let a file name a value once and use
// it often; a ledger of 59 KB whose gaps each named one anchored list of
// 20,000 items took seconds and gigabytes to read, a pack of 169 KB wrote
// a page of 241 MB. A file that uses anchors as people do (shared
// defaults) grows far less.
const MaxGrowth = 16

// slack lets a file use anchors freely: the bound is MaxGrowth times its
// size plus this many bytes (a description of 2 KB merged into a thousand
// gaps is 2 MB).
const slack = 8 << 20

// CheckGrowth returns an error naming path when the document n, read from
// size bytes, expands through its aliases to more than MaxGrowth times
// size plus 8 MiB. The size of a value is its scalars' bytes plus
// one per node; each alias counts as the value it stands for. It takes
// time in the number of nodes, not in their expansion.
func CheckGrowth(path string, n *yaml.Node, size int) error {
	limit := int64(size)*MaxGrowth + slack
	memo := map[*yaml.Node]int64{}
	if got := expanded(n, memo, limit); got > limit {
		return fmt.Errorf("%s: its aliases expand it to more than %d bytes (%d times its size, plus 8 MiB): write the values out, or anchor less", path, limit, MaxGrowth)
	}
	return nil
}

// expanded returns the expanded size of n, or a number over limit once it
// passes it. Each node's size is worked out once and added again for each
// alias that reaches it: memo holds it (-1 while it is being worked out,
// so that an alias inside its own anchor adds nothing more).
func expanded(n *yaml.Node, memo map[*yaml.Node]int64, limit int64) int64 {
	if n == nil {
		return 0
	}
	if v, ok := memo[n]; ok {
		if v < 0 {
			return 0
		}
		return v
	}
	memo[n] = -1
	total := int64(1 + len(n.Value))
	if n.Kind == yaml.AliasNode {
		total += expanded(n.Alias, memo, limit)
	}
	for _, c := range n.Content {
		if total += expanded(c, memo, limit); total > limit {
			break
		}
	}
	memo[n] = total
	return total
}
