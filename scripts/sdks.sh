#!/usr/bin/env bash
# Builds Baidu's official SDKs for tests/test_sdks.py, once, into $SDK_BUILD (default
# .venv/sdks): Node.js from npm, C++ / PHP / Java from their sources in ../shared/sdks
# (TONGTU_SDKS), which are never copied into the project. Installs what each needs from
# Debian when it is missing. An SDK that cannot be built is left out; its test says why.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${SDK_BUILD:-.venv/sdks}
SRC=${TONGTU_SDKS:-../shared/sdks}
NODE_SDK=baidu-aip-sdk@4.16.16
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
HERE=$(pwd)

need=()
command -v php >/dev/null 2>&1 || need+=(php-cli)
php -m 2>/dev/null | grep -qx curl || need+=(php-curl)
[ -f /usr/include/jsoncpp/json/json.h ] || need+=(libjsoncpp-dev)
[ -f /usr/include/curl/curl.h ] || [ -f "/usr/include/$(gcc -dumpmachine)/curl/curl.h" ] || need+=(libcurl4-openssl-dev)
[ -f /usr/include/openssl/evp.h ] || need+=(libssl-dev)
[ -f /usr/share/java/json-latest.jar ] || need+=(libandroid-json-org-java)
[ -f /usr/share/java/slf4j-api.jar ] || need+=(libslf4j-java)
command -v javac >/dev/null 2>&1 || need+=(default-jdk-headless)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing ${need[*]} for the SDK tests..." >&2
  $SUDO apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# Node.js: the SDK as npm ships it.
if [ ! -d "$OUT/node/node_modules/baidu-aip-sdk" ] && command -v npm >/dev/null 2>&1; then
  npm install --silent --no-audit --no-fund --prefix "$OUT/node" "$NODE_SDK" >/dev/null
fi

if [ ! -d "$SRC" ]; then
  echo "sdks: $SRC not found: the C++, PHP and Java SDK tests will be skipped" >&2
  exit 0
fi

# PHP: a writable copy (the SDK caches its token in a file beside lib/AipBase.php).
if [ ! -f "$OUT/php/AipImageSearch.php" ]; then
  rm -rf "$OUT/php" && cp -r "$SRC/php-sdk" "$OUT/php"
fi

# C++: header-only; the token URL is a constant of base/base.h, read from AIP_HOST here.
if [ ! -x "$OUT/cpp-driver" ] || [ tests/sdks/driver.cpp -nt "$OUT/cpp-driver" ]; then
  rm -rf "$OUT/cpp" && cp -r "$SRC/cpp-sdk" "$OUT/cpp"
  sed -i 's#static const std::string ACCESS_TOKEN_URL = "https://aip.baidubce.com#static const std::string ACCESS_TOKEN_URL = std::string(std::getenv("AIP_HOST") ? std::getenv("AIP_HOST") : "https://aip.baidubce.com") + "#' "$OUT/cpp/base/base.h"
  g++ -std=c++11 -O1 -w -include cstdlib -I"$OUT/cpp" -I/usr/include/jsoncpp tests/sdks/driver.cpp \
    -o "$OUT/cpp-driver" -lcurl -ljsoncpp -lcrypto
fi

# Java: its URLs are compile-time constants, taken from -Daip.host in this copy.
JARS="/usr/share/java/json-latest.jar:/usr/share/java/slf4j-api.jar"
if [ ! -f "$OUT/java/Driver.class" ] || [ tests/sdks/Driver.java -nt "$OUT/java/Driver.class" ]; then
  rm -rf "$OUT/java-src" "$OUT/java" && mkdir -p "$OUT/java"
  cp -r "$SRC/java-sdk/src/main/java" "$OUT/java-src"
  for f in util/AipClientConst.java imagesearch/ImageSearchConsts.java; do
    sed -i 's#"https://aip.baidubce.com#System.getProperty("aip.host", "https://aip.baidubce.com") + "#' \
      "$OUT/java-src/com/baidu/aip/$f"
  done
  find "$OUT/java-src" -name '*.java' > "$OUT/java-sources.txt"
  javac -nowarn -encoding UTF-8 -cp "$JARS" -d "$OUT/java" @"$OUT/java-sources.txt" \
    "$HERE/tests/sdks/Driver.java" 2>&1 | grep -v "^Note:" >&2 || true
fi
echo "$JARS" > "$OUT/java-classpath.txt"
echo "sdks: built in $OUT" >&2
