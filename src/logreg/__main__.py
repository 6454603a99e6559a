from logreg.cli import console

console()
