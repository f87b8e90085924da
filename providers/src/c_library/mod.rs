pub mod marshal;
