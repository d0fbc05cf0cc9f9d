<#
.SYNOPSIS
  whynet's Windows collector: network profiles and firewall profiles/rules (checklist F4),
  written as a whynet snapshot that any machine with whynet can diagnose:

      powershell -ExecutionPolicy Bypass -File windows_profiles.ps1 -Output snap.json
      whynet diagnose --snapshot snap.json

.DESCRIPTION
  Read-only: it only calls Get-* cmdlets (NetConnection and NetSecurity modules, Windows 8 /
  Server 2012 and later; no administrator rights needed to read them).

  Facts written (see whynet's README, fact reference):
    windows_network_profile   one per connected network (Get-NetConnectionProfile)
    windows_firewall_profile  Domain, Private, Public (Get-NetFirewallProfile)
    windows_firewall_rule     one per enabled rule, profile and local port
                              (Get-NetFirewallRule + Get-NetFirewallPortFilter)
    collection_error          a cmdlet that failed, with its message
  A rule bound to several profiles ("Domain, Private") or "Any" is written once per profile,
  and once per local port, so rules can join on (profile, protocol, port).
#>
param([string]$Output = "")

$ErrorActionPreference = "Stop"
$facts = New-Object System.Collections.Generic.List[object]

function Add-Fact([string]$Kind, [string]$Id, [string]$Command, [hashtable]$Fields) {
    $fact = [ordered]@{ kind = $Kind; id = $Id; source = @{ command = $Command } }
    foreach ($k in $Fields.Keys) { $fact[$k] = $Fields[$k] }
    $facts.Add($fact)
}

function Add-Error([string]$What, $Err) {
    Add-Fact "collection_error" "collection_error:windows:$What" $What @{
        collector = "windows_profiles"; reason = "$($Err.Exception.Message)" }
}

# NetworkCategory is Public, Private or DomainAuthenticated; the firewall profile that applies
# to the network is Public, Private or Domain.
$profileOf = @{ "Public" = "Public"; "Private" = "Private"; "DomainAuthenticated" = "Domain" }

try {
    $i = 0
    foreach ($p in Get-NetConnectionProfile) {
        $category = "$($p.NetworkCategory)"
        Add-Fact "windows_network_profile" "windows_network_profile:$i" "Get-NetConnectionProfile" @{
            name = "$($p.Name)"; interface = "$($p.InterfaceAlias)";
            interface_index = [int]$p.InterfaceIndex; category = $category;
            firewall_profile = $profileOf[$category];
            ipv4_connectivity = "$($p.IPv4Connectivity)"; ipv6_connectivity = "$($p.IPv6Connectivity)" }
        $i++
    }
} catch { Add-Error "Get-NetConnectionProfile" $_ }

try {
    foreach ($p in Get-NetFirewallProfile) {
        Add-Fact "windows_firewall_profile" "windows_firewall_profile:$($p.Name)" "Get-NetFirewallProfile" @{
            profile = "$($p.Name)"; enabled = ("$($p.Enabled)" -eq "True");
            default_inbound = "$($p.DefaultInboundAction)";
            default_outbound = "$($p.DefaultOutboundAction)";
            allow_local_rules = "$($p.AllowLocalFirewallRules)";
            log_blocked = ("$($p.LogBlocked)" -eq "True") }
    }
} catch { Add-Error "Get-NetFirewallProfile" $_ }

try {
    $ports = @{}
    foreach ($f in Get-NetFirewallPortFilter -All) { $ports[$f.InstanceID] = $f }
    foreach ($r in Get-NetFirewallRule -Enabled True) {
        $filter = $ports[$r.Name]
        $protocol = if ($filter) { "$($filter.Protocol)" } else { "Any" }
        $localPorts = if ($filter) { @($filter.LocalPort | ForEach-Object { "$_" }) } else { @("Any") }
        $profiles = "$($r.Profile)" -split ",\s*"
        if ($profiles -contains "Any") { $profiles = @("Domain", "Private", "Public") }
        foreach ($prof in $profiles) {
            foreach ($port in $localPorts) {
                Add-Fact "windows_firewall_rule" "windows_firewall_rule:$($r.Name):$($prof):$port" "Get-NetFirewallRule" @{
                    name = "$($r.Name)"; display_name = "$($r.DisplayName)";
                    direction = "$($r.Direction)"; action = "$($r.Action)"; enabled = $true;
                    profile = $prof; rule_profiles = "$($r.Profile)";
                    protocol = $protocol.ToUpper(); local_port = $port;
                    group = "$($r.DisplayGroup)" }
            }
        }
    }
} catch { Add-Error "Get-NetFirewallRule" $_ }

$snapshot = [ordered]@{
    whynet = "0.1.0"; schema = 1; host = "$env:COMPUTERNAME";
    collected_at = (Get-Date).ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ssZ");
    facts = $facts }
$json = $snapshot | ConvertTo-Json -Depth 6
if ($Output) { [IO.File]::WriteAllText($Output, $json) } else { $json }
