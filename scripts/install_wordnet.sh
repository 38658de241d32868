#!/usr/bin/env bash
# Install WordNet 3.0 for nltk's METEOR (m3d protocol) without nltk.download().
#
# nltk's WordNetCorpusReader reads these files from $NLTK_DATA/corpora/wordnet/:
#   lexnames, index.{adj,adv,noun,verb}, data.{adj,adv,noun,verb}, {adj,adv,noun,verb}.exc,
#   index.sense and cntlist.rev (the last two only for lemma keys / counts).
# Debian ships them in `wordnet-base` (+ `wordnet-sense-index` for index.sense) under
# /usr/share/wordnet, except `lexnames` (the 45 lexicographer file names of WordNet 3.0,
# documented in lexnames(5WN)), which this script writes itself.
# The files are COPIED, not linked, so the nltk data folder keeps working if the Debian
# packages are removed and can be moved to another machine as is.
#
# Usage: scripts/install_wordnet.sh [NLTK_DATA_DIR]
#   NLTK_DATA_DIR defaults to $NLTK_DATA, else <repo root>/.cache/nltk_data.
#   Set WORDNET_SRC to copy from another folder holding the same files (no apt then).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target_root="${1:-${NLTK_DATA:-$repo_root/.cache/nltk_data}}"
src="${WORDNET_SRC:-/usr/share/wordnet}"
dest="$target_root/corpora/wordnet"

files=(
  index.adj index.adv index.noun index.verb
  data.adj data.adv data.noun data.verb
  adj.exc adv.exc noun.exc verb.exc
  index.sense cntlist.rev
)

missing() {
  local f
  for f in "${files[@]}"; do
    [[ -s "$src/$f" ]] || return 0
  done
  return 1
}

if missing; then
  if [[ -n "${WORDNET_SRC:-}" ]]; then
    echo "install_wordnet.sh: WORDNET_SRC=$src lacks some of: ${files[*]}" >&2
    exit 1
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_wordnet.sh: $src lacks the WordNet 3.0 files and apt-get is not available." >&2
    echo "  Install WordNet 3.0 (the 'dict' folder) and rerun with WORDNET_SRC=/path/to/dict." >&2
    exit 1
  fi
  sudo_cmd=()
  if [[ "$(id -u)" != "0" ]]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo_cmd=(sudo)
    else
      echo "install_wordnet.sh: need root (or sudo) to apt-get install wordnet-base wordnet-sense-index." >&2
      exit 1
    fi
  fi
  echo "install_wordnet.sh: installing Debian packages wordnet-base wordnet-sense-index"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq wordnet-base wordnet-sense-index >/dev/null
  if missing; then
    echo "install_wordnet.sh: apt-get finished but $src still lacks some of: ${files[*]}" >&2
    exit 1
  fi
fi

mkdir -p "$dest"
for f in "${files[@]}"; do
  cp -f --remove-destination "$src/$f" "$dest/$f"
done

# lexnames(5WN): "NN<TAB>file name<TAB>syntactic category (1 noun, 2 verb, 3 adj, 4 adv)".
lexnames=(
  adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute
  noun.body noun.cognition noun.communication noun.event noun.feeling noun.food noun.group
  noun.location noun.motive noun.object noun.person noun.phenomenon noun.plant
  noun.possession noun.process noun.quantity noun.relation noun.shape noun.state
  noun.substance noun.time verb.body verb.change verb.cognition verb.communication
  verb.competition verb.consumption verb.contact verb.creation verb.emotion verb.motion
  verb.perception verb.possession verb.social verb.stative verb.weather adj.ppl
)
: >"$dest/lexnames"
for i in "${!lexnames[@]}"; do
  name="${lexnames[$i]}"
  case "$name" in
    noun.*) cat=1 ;;
    verb.*) cat=2 ;;
    adj.*) cat=3 ;;
    adv.*) cat=4 ;;
  esac
  printf '%02d\t%s\t%d\n' "$i" "$name" "$cat" >>"$dest/lexnames"
done

echo "install_wordnet.sh: WordNet 3.0 ready in $dest (export NLTK_DATA=$target_root)"
