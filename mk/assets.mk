# The share directory offerd serves files from: $(BUILD)/share, which is where
# a local build's offerd looks by default (<directory of the binary>/share).
#   /openapi.json       share/openapi.json
#   /docs               share/docs.html
#   /docs/assets/FILE   share/swagger-ui/FILE  (from the npm package swagger-ui-dist)
#   /                   share/index.html
#   /console            share/console/index.html (its assets under /console/)
#   /console/uplot/FILE share/console/uplot/FILE  (from the npm package uplot)
# share/ is copied as it is; Swagger UI's files come from swagger-ui-dist at the
# exact version pinned in package.json and package-lock.json, installed with
# `npm ci` so the build never resolves a version by itself. Node.js is needed
# at build time only (scripts/deps-node.sh installs it when missing).

SHARE_SRC        := $(shell find share -type f 2>/dev/null)
SWAGGER_UI_DIST  = node_modules/swagger-ui-dist
SWAGGER_UI_FILES = swagger-ui-bundle.js swagger-ui-standalone-preset.js \
                   swagger-ui.css favicon-16x16.png favicon-32x32.png LICENSE NOTICE
UPLOT_DIST       = node_modules/uplot
UPLOT_FILES      = dist/uPlot.iife.min.js dist/uPlot.min.css LICENSE

.PHONY: assets
assets: $(BUILD)/share/.stamp
build: $(BUILD)/share/.stamp

# `npm ci` installs exactly the lock file. Only the production dependency is
# needed to build, but when the developer tools (the linter `make test` runs)
# are already installed they are kept, so build and test do not take turns
# deleting each other's packages. --ignore-scripts: swagger-ui-dist's
# analytics dependency (@scarf/scarf) would phone home from its install script.
$(SWAGGER_UI_DIST)/package.json: package.json package-lock.json
	@scripts/deps-node.sh
	SCARF_ANALYTICS=false npm ci --ignore-scripts --no-audit --no-fund \
	    $(if $(wildcard node_modules/@redocly/cli/package.json),,--omit=dev)
	@touch $@

# Built in a scratch directory and swapped in, so a file removed from share/
# does not linger and a failed copy leaves no half-made directory behind.
$(BUILD)/share/.stamp: $(SHARE_SRC) $(SWAGGER_UI_DIST)/package.json mk/assets.mk
	@rm -rf $(BUILD)/share.tmp
	@mkdir -p $(BUILD)/share.tmp/swagger-ui $(BUILD)/share.tmp/console/uplot
	cp -R share/. $(BUILD)/share.tmp/
	cp $(addprefix $(SWAGGER_UI_DIST)/,$(SWAGGER_UI_FILES)) $(BUILD)/share.tmp/swagger-ui/
	cp $(addprefix $(UPLOT_DIST)/,$(UPLOT_FILES)) $(BUILD)/share.tmp/console/uplot/
	@rm -rf $(BUILD)/share
	@mv $(BUILD)/share.tmp $(BUILD)/share
	@touch $@
