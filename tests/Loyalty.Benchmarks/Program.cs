using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(Loyalty.Benchmarks.RuleEvaluationBenchmarks).Assembly).Run(args);
