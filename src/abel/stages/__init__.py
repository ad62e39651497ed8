"""One module per pipeline stage: ``run(params, root)`` does the whole stage and writes its outputs,
``load(root)`` reads them back for display (what a notebook opened in JupyterLab shows).

Stages exchange only files, named in ``abel.artifacts``; no stage imports another. The stage
notebooks (``notebooks/NN_<stage>.ipynb``) call ``run`` when ``recompute`` is set (``abel stage``,
which ``dvc.yaml`` runs) and ``load`` otherwise, then display; they define and write nothing.
"""
