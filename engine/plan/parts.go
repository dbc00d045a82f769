package plan

import (
	"sort"
	"strings"

	"github.com/imgraph/imgraph/engine/hash"
)

// LabelInputParts records, next to the input digest, the digest of each
// part it is made of ("context=sha256:…,dockerfile=sha256:…"), so a later
// plan can say which inputs changed, not only that something did.
const LabelInputParts = "dev.imgraph.input-parts"

// EncodeParts renders parts for LabelInputParts, sorted by name.
func EncodeParts(parts map[string]hash.Digest) string {
	names := make([]string, 0, len(parts))
	for n := range parts {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(n + "=" + string(parts[n]))
	}
	return b.String()
}

// changedParts names the parts that differ between the node's inputs and
// an image's LabelInputParts value; nil when the label is missing or
// unreadable (an image from before the label, or not built by imgraph).
func changedParts(want map[string]hash.Digest, label string) []string {
	if label == "" || len(want) == 0 {
		return nil
	}
	have := map[string]string{}
	for _, kv := range strings.Split(label, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil
		}
		have[k] = v
	}
	var out []string
	for k, v := range want {
		if have[k] != string(v) {
			out = append(out, k)
		}
	}
	for k := range have {
		if _, ok := want[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// changedReason is the "inputs changed" reason, naming the parts when the
// image recorded them.
func changedReason(where, have string, want map[string]hash.Digest, partsLabel string) string {
	if parts := changedParts(want, partsLabel); len(parts) > 0 {
		return "inputs changed: " + strings.Join(parts, ", ") + " (" + where + " has " + have + ")"
	}
	return "inputs changed: " + where + " has " + have
}
