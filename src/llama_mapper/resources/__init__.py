"""Resources: the taxonomy, the compliance frameworks, the event schema and the bundled samples
(package data), and the loaders of the taxonomy and the frameworks.

Imports nothing of the package: every other package reads its facts from here.
"""
