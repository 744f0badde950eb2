using Loyalty.Cli;

return await CliApp.Build().Parse(args).InvokeAsync();
