"""The builder (`build`): images from Dockerfiles and Containerfiles, as docker's classic builder makes them.

    dockerfile.py  the Dockerfile's text as instructions and stages
    words.py       docker's word splitting and ${VAR} substitution
    ignore.py      .dockerignore patterns
    context.py     the build context: a directory, or a tar or a Dockerfile on stdin
    build.py       the build: its stages, step by step; each step an image
    run.py         a RUN step: a container over the stack, its upper the new layer
    sources.py     a COPY or ADD step's sources, destination and checksum
    copying.py     files into a step's own upper directory, in a child's mount namespace
    cache.py       the cache: a step's key, the image made under it
"""
