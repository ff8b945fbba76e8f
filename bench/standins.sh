# Sourced by bench/run.sh and bench/farm.sh: the stand-in set, made in the
# current folder at the scale given (reused when a file of that size exists).
#
#   make_standins SCALE
#   write_manifest BASE-URL FILE
#
# It writes data-NAME (the installed bytes), srv/NAME (what the origin serves:
# the dlib predictor bzip2'd as upstream serves it, the others as they are,
# hard-linked) and SHA256SUMS, and needs `gen` (bench/gen) on PATH.

# name kind installed-size (the real artifacts' sizes)
set_files() {
  cat <<LIST
shape_predictor_68_face_landmarks.dat floats 99693937
codeformer.pth random 376637898
detection_Resnet50_Final.pth random 109497761
parsing_parsenet.pth random 85331193
u2net_human_seg.onnx random 175997641
LIST
}

make_standins() {
  local scale=$1 seed=1 name kind size
  : > SHA256SUMS
  while read -r name kind size; do
    size=$(awk -v s="$size" -v k="$scale" 'BEGIN { printf "%d", s * k }')
    if [ ! -s "data-$name" ] || [ "$(stat -c %s "data-$name")" != "$size" ]; then
      gen -kind "$kind" -size "$size" -seed "$seed" > "data-$name"
      rm -f "srv/$name.bz2"
    fi
    echo "$(sha256sum "data-$name" | cut -d' ' -f1)  $name" >> SHA256SUMS
    seed=$((seed + 1))
  done < <(set_files)
  dlib=shape_predictor_68_face_landmarks.dat
  [ -s "srv/$dlib.bz2" ] || bzip2 -9 -c "data-$dlib" > "srv/$dlib.bz2"
  for name in codeformer.pth detection_Resnet50_Final.pth parsing_parsenet.pth u2net_human_seg.onnx; do
    ln -f "data-$name" "srv/$name"
  done
}

# write_manifest BASE-URL FILE: a models.toml for the stand-ins served at
# BASE-URL, with its roots under $work/out (a run gives its own with --out and
# --dir).
write_manifest() {
  local sum name key
  {
    echo 'version = 1'
    echo '[dirs]'
    echo "models = \"$work/out/models\""
    echo "u2net = \"$work/out/u2net\""
    while read -r sum name; do
      key=${name%%.*}
      echo "[models.$key]"
      [ "$name" = u2net_human_seg.onnx ] && echo 'dir = "u2net"'
      echo "path = \"$name\""
      echo "sha256 = \"$sum\""
      echo "size = $(stat -c %s "data-$name")"
      if [ "$name" = "$dlib" ]; then echo "urls = [\"$1/$name.bz2\"]"; else echo "urls = [\"$1/$name\"]"; fi
    done < SHA256SUMS
  } > "$2"
}
