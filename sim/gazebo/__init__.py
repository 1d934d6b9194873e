"""The home world for Gazebo (Harmonic): SDFormat world + robot model and the ros_gz_bridge YAML,
generated from the same world description as the MuJoCo scene (see sdf.py, README.md)."""
