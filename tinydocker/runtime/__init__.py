"""tinydocker's OCI runtime (`tinydocker-runtime`): realises an OCI bundle, with runc's
command line. It sits below the engine: nothing here imports the engine's api, cli, spec or
container packages.

config    a bundle's config.json as a checked, typed model
tables    the names the runtime accepts (and `features` lists)
template  the config.json `spec` writes
features  the runtime-spec features document
log       runc's --log/--log-format
cli       the command line
"""
