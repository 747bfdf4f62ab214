"""Data shared by the reliability tests (a module of its own: every test room has a conftest)."""

UD_SENTENCE = (
    "# text = the fox jumps .\n"
    "1\tthe\tthe\tDET\tDT\t_\t2\tdet\t_\t_\n"
    "2\tfox\tfox\tNOUN\tNN\t_\t3\tnsubj\t_\t_\n"
    "3\tjumps\tjump\tVERB\tVBZ\t_\t0\troot\t_\t_\n"
    "4\t.\t.\tPUNCT\t.\t_\t3\tpunct\t_\t_\n\n"
)
