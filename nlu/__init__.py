"""What training, serving and the admin site share: the tokenizer, BIO spans, the artifact contract
with its loading, the model registry, and the data-set format with its readers (`dataset`).

It imports no TensorFlow and no Flask: `artifact` loads ONNX Runtime only when asked for that
runtime, and the Keras runtime lives on the training side (`training_jobs.keras_runtime`).
"""
