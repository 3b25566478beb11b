# The Node side of the interop tests: install express-session and the stores from the
# committed lockfile (exact versions) if node_modules is missing.
if [ ! -d interop/node/node_modules ]; then
  echo "npm ci in interop/node"
  (cd interop/node && npm ci --no-audit --no-fund --loglevel=error)
fi
