# The two commands of the README's quick start: `make demo` and `make test`. Each installs what it needs.
.PHONY: install build demo test lint bench clean

NODE_MODULES_STAMP := node_modules/.install-stamp

install: $(NODE_MODULES_STAMP)

# node-gyp (better-sqlite3 when no prebuilt binary fits) downloads Node's headers from nodejs.org unless told where
# they are: the running Node's own, when its prefix ships them, so a host without internet installs too.
NODE_PREFIX := $(shell node -p "require('path').resolve(process.execPath, '..', '..')")

$(NODE_MODULES_STAMP): package.json package-lock.json
	if [ -z "$$npm_config_nodedir" ] && [ -f "$(NODE_PREFIX)/include/node/node_version.h" ]; then export npm_config_nodedir="$(NODE_PREFIX)"; fi; \
	npm ci --no-audit --no-fund
	@touch $@

# tsc is also the type check: it exits non-zero on any type error.
build: install
	npx tsc -p tsconfig.json

lint: install
	npx eslint .

# The main job on the embedded default (see README).
demo: build
	bash scripts/demo.sh

# Lint, type check and every test (unit tests and the testbed tests over real sshd).
test: build lint
	node scripts/run-tests.mjs

clean:
	rm -rf dist node_modules
