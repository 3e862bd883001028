# The device tool's limits, in one place for the gpu_*.sh scripts that source this file: what a
# call may send (the working tree with the carried paths) and what comes back from $OUT.
DEVICE_SEND_BYTES=$((64 * 1024 * 1024))
DEVICE_RETURN_FILES=8
DEVICE_RETURN_FILE_BYTES=$((16 * 1024 * 1024))
DEVICE_RETURN_BYTES=$((64 * 1024 * 1024))

# Prints one line per reason the files in folder $1 would not all come back; nothing when they would.
device_unreturned() {
  local n total
  n=$(find "$1" -type f | wc -l)
  total=$(find "$1" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
  [ "$n" -gt "$DEVICE_RETURN_FILES" ] && echo "$n files (at most $DEVICE_RETURN_FILES come back)"
  [ "$total" -gt "$DEVICE_RETURN_BYTES" ] && echo "$((total / 1024 / 1024)) MiB together (at most 64 MiB come back)"
  find "$1" -type f -size +"$DEVICE_RETURN_FILE_BYTES"c -printf '%f is over 16 MiB (such a file does not come back)\n'
  return 0
}
