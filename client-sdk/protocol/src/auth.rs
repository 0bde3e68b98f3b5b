//! Signed messages as the escrow's on-chain `…Auth` structs: the one encoding of a signed operation for
//! `openChannelsBySig`, `topUpsBySig`, `requestClosesBySig`, `withdrawBySig`, `setSettleFeeCapsBySig` and
//! `cooperativeClose`, shared by the SDK's chain client and the relayer.
//!
//! Each `…Auth` is the signer followed by the message's fields in type-string order (the escrow hashes
//! the calldata words as they are), then the signature; [`calldata`] builds a whole `…BySig` call from
//! relayer [`Operation`]s.

use alloy_primitives::Address;
use alloy_sol_types::SolCall;

use crate::{
    CompactSignature, CooperativeClose, OpenChannel, RequestClose, SettleFeeCap, TopUp, Withdrawal,
    bindings::{ChannelEscrow as E, IChannelEscrow as I},
    relayer_api::{Operation, OperationKind},
};

impl From<&CompactSignature> for I::CompactSignature {
    fn from(signature: &CompactSignature) -> Self {
        Self {
            r: signature.r,
            vs: signature.vs,
        }
    }
}

impl From<&I::CompactSignature> for CompactSignature {
    fn from(signature: &I::CompactSignature) -> Self {
        Self::new(signature.r, signature.vs)
    }
}

impl OpenChannel {
    /// The `OpenAuth` of this open, signed by `payer`.
    pub fn auth(&self, payer: Address, signature: &CompactSignature) -> I::OpenAuth {
        I::OpenAuth {
            payer,
            payee: self.payee,
            salt: self.salt,
            deposit: self.deposit,
            fee: self.fee,
            relayer: self.relayer,
            channelNonce: self.channelNonce,
            deadline: self.deadline,
            sig: signature.into(),
        }
    }
}

impl TopUp {
    /// The `TopUpAuth` of this top-up, signed by `payer`.
    pub fn auth(&self, payer: Address, signature: &CompactSignature) -> I::TopUpAuth {
        I::TopUpAuth {
            payer,
            payee: self.payee,
            salt: self.salt,
            deposit: self.deposit,
            fee: self.fee,
            relayer: self.relayer,
            channelNonce: self.channelNonce,
            deadline: self.deadline,
            sig: signature.into(),
        }
    }
}

impl RequestClose {
    /// The `CloseAuth` of this close request, signed by `payer`.
    pub fn auth(&self, payer: Address, signature: &CompactSignature) -> I::CloseAuth {
        I::CloseAuth {
            payer,
            payee: self.payee,
            salt: self.salt,
            fee: self.fee,
            relayer: self.relayer,
            deadline: self.deadline,
            sig: signature.into(),
        }
    }
}

impl Withdrawal {
    /// The `WithdrawAuth` of this withdrawal, signed by `owner`.
    pub fn auth(&self, owner: Address, signature: &CompactSignature) -> I::WithdrawAuth {
        I::WithdrawAuth {
            owner,
            to: self.to,
            amount: self.amount,
            fee: self.fee,
            relayer: self.relayer,
            nonce: self.nonce,
            deadline: self.deadline,
            sig: signature.into(),
        }
    }
}

impl SettleFeeCap {
    /// The `SettleFeeCapAuth` of this fee setting, signed by `payee`.
    pub fn auth(&self, payee: Address, signature: &CompactSignature) -> I::SettleFeeCapAuth {
        I::SettleFeeCapAuth {
            payee,
            bps: self.bps,
            relayer: self.relayer,
            nonce: self.nonce,
            deadline: self.deadline,
            sig: signature.into(),
        }
    }
}

impl CooperativeClose {
    /// The `CooperativeCloseAuth` of this close (it names both parties; the signatures travel beside it).
    pub fn auth(&self) -> I::CooperativeCloseAuth {
        I::CooperativeCloseAuth {
            payer: self.payer,
            payee: self.payee,
            salt: self.salt,
            cumulative: self.cumulative,
            fee: self.fee,
            relayer: self.relayer,
            channelNonce: self.channelNonce,
            deadline: self.deadline,
        }
    }

    /// The calldata of `cooperativeClose` with both parties' signatures.
    pub fn calldata(
        &self,
        payer_signature: &CompactSignature,
        payee_signature: &CompactSignature,
    ) -> Vec<u8> {
        E::cooperativeCloseCall {
            auth: self.auth(),
            payerSig: payer_signature.into(),
            payeeSig: payee_signature.into(),
        }
        .abi_encode()
    }
}

impl Operation {
    /// The operation's `…Auth` for its `…BySig` batch; `None` for a cooperative close, which is a call of
    /// its own ([`CooperativeClose::calldata`]).
    fn by_sig_entry(&self) -> Option<BySigEntry> {
        Some(match self {
            Self::Open {
                payer,
                message,
                signature,
            } => BySigEntry::Open(message.auth(*payer, signature)),
            Self::TopUp {
                payer,
                message,
                signature,
            } => BySigEntry::TopUp(message.auth(*payer, signature)),
            Self::RequestClose {
                payer,
                message,
                signature,
            } => BySigEntry::RequestClose(message.auth(*payer, signature)),
            Self::Withdraw {
                owner,
                message,
                signature,
            } => BySigEntry::Withdraw(message.auth(*owner, signature)),
            Self::SetSettleFeeCap {
                payee,
                message,
                signature,
            } => BySigEntry::SetSettleFeeCap(message.auth(*payee, signature)),
            Self::CooperativeClose { .. } => return None,
        })
    }
}

/// One entry of a `…BySig` batch.
enum BySigEntry {
    Open(I::OpenAuth),
    TopUp(I::TopUpAuth),
    RequestClose(I::CloseAuth),
    Withdraw(I::WithdrawAuth),
    SetSettleFeeCap(I::SettleFeeCapAuth),
}

/// The calldata of one `…BySig` call carrying `operations` of `kind` in order (others are left out), or
/// of `cooperativeClose` for the first cooperative close. `None` if nothing of `kind` is given.
pub fn calldata<'a>(
    kind: OperationKind,
    operations: impl IntoIterator<Item = &'a Operation>,
) -> Option<Vec<u8>> {
    let mut operations = operations
        .into_iter()
        .filter(|o| o.kind() == kind)
        .peekable();
    if let Some(Operation::CooperativeClose {
        message,
        payer_signature,
        payee_signature,
    }) = operations.peek()
    {
        return Some(message.calldata(payer_signature, payee_signature));
    }
    let entries: Vec<BySigEntry> = operations.filter_map(Operation::by_sig_entry).collect();
    if entries.is_empty() {
        return None;
    }
    macro_rules! batch {
        ($call:ident, $variant:ident) => {
            E::$call {
                auths: entries
                    .into_iter()
                    .filter_map(|e| match e {
                        BySigEntry::$variant(auth) => Some(auth),
                        _ => None,
                    })
                    .collect(),
            }
            .abi_encode()
        };
    }
    Some(match kind {
        OperationKind::Open => batch!(openChannelsBySigCall, Open),
        OperationKind::TopUp => batch!(topUpsBySigCall, TopUp),
        OperationKind::RequestClose => batch!(requestClosesBySigCall, RequestClose),
        OperationKind::Withdraw => batch!(withdrawBySigCall, Withdraw),
        OperationKind::SetSettleFeeCap => batch!(setSettleFeeCapsBySigCall, SetSettleFeeCap),
        OperationKind::CooperativeClose => return None,
    })
}

#[cfg(test)]
mod tests {
    use alloy_primitives::{
        B256,
        aliases::{U40, U96},
    };

    use super::*;

    fn signature(byte: u8) -> CompactSignature {
        CompactSignature::new(B256::repeat_byte(byte), B256::repeat_byte(byte + 1))
    }

    fn open(salt: u32) -> Operation {
        Operation::Open {
            payer: Address::repeat_byte(1),
            message: OpenChannel {
                payee: Address::repeat_byte(2),
                salt,
                deposit: U96::from(100u64),
                fee: U96::from(1u64),
                relayer: Address::repeat_byte(7),
                channelNonce: 3,
                deadline: U40::from(10u64),
            },
            signature: signature(3),
        }
    }

    #[test]
    fn a_batch_carries_its_kind_in_order() {
        let ops = [open(1), open(2)];
        let data = calldata(OperationKind::Open, &ops).unwrap();
        let call = E::openChannelsBySigCall::abi_decode(&data).unwrap();
        let salts: Vec<u32> = call.auths.iter().map(|a| a.salt).collect();
        assert_eq!(salts, [1, 2]);
        let first = &call.auths[0];
        assert_eq!(first.payer, Address::repeat_byte(1));
        assert_eq!(first.relayer, Address::repeat_byte(7));
        assert_eq!(first.channelNonce, 3);
        assert_eq!(CompactSignature::from(&first.sig), signature(3));
        assert_eq!(calldata(OperationKind::TopUp, &ops), None);
    }

    /// The on-chain struct is the signer's word followed by the message's encodeData words: what the
    /// escrow hashes (PaymentHash copies words 1..) is exactly what was signed.
    #[test]
    fn an_auth_is_the_signer_then_the_signed_words() {
        use alloy_sol_types::{SolStruct, SolValue};
        let Operation::Open {
            payer,
            message,
            signature,
        } = open(9)
        else {
            unreachable!()
        };
        let encoded = message.auth(payer, &signature).abi_encode();
        let signed = message.eip712_encode_data();
        assert_eq!(&encoded[12..32], payer.as_slice());
        assert_eq!(&encoded[32..32 + signed.len()], signed.as_slice());
    }

    #[test]
    fn a_cooperative_close_is_a_call_of_its_own() {
        let close = CooperativeClose {
            payer: Address::repeat_byte(1),
            payee: Address::repeat_byte(2),
            salt: 5,
            cumulative: U96::from(70u64),
            fee: U96::ZERO,
            relayer: Address::ZERO,
            channelNonce: 0,
            deadline: U40::from(10u64),
        };
        let ops = [Operation::CooperativeClose {
            message: close.clone(),
            payer_signature: signature(4),
            payee_signature: signature(6),
        }];
        let data = calldata(OperationKind::CooperativeClose, &ops).unwrap();
        let call = E::cooperativeCloseCall::abi_decode(&data).unwrap();
        assert_eq!(call.auth, close.auth());
        assert_eq!(CompactSignature::from(&call.payeeSig), signature(6));
    }
}
